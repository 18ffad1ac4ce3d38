"""The browser upload page: a TDSP's person signs in, uploads a file and reads its report."""
