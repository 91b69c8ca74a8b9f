"""Penalized regression bases reproducing mgcv smooth constructors."""
