"""Contract tests on a GPU (`make test-gpu`); left out of `make test`."""
