"""One module per table or queue: the only code that reads or writes them."""
