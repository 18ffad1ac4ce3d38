"""Ad-hoc bulk reports: a durable worker builds them and the FTPS publisher delivers them."""
