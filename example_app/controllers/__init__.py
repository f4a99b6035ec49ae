"""Controllers of the example app (Nova's ``src/controllers``)."""
