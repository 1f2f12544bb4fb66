"""Demonstration generators: scripted source demonstrators and (later) data generators."""
