"""Access-controlled REST reads of usage, tokens, agreements, ad-hoc reports and on-demand reads."""
