"""Mutation testing of the safety core (see ``__main__``)."""
