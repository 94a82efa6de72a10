"""The console's side of the contract with the fronts (dataplane/): the key
set's change log, what the fronts read of it, and their credentials."""
