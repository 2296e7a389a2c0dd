"""Readers and writers of the collider file layouts (JetNet HDF5)."""

from kiss_collider.io.jetnet import read_jetnet, write_jetnet

__all__ = ["read_jetnet", "write_jetnet"]
