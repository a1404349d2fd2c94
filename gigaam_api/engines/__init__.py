"""Speech recognisers behind one protocol, and the registry that creates them."""
