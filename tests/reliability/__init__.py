"""Reliability and security suite: hostile corpus, fuzzing, faults, load, access control."""
