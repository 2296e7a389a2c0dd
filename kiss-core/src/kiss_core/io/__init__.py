"""Reading and writing files safely: atomic replacement, netCDF samples, JSON."""

from kiss_core.io.files import atomic_path, read_json, write_json
from kiss_core.io.netcdf import read_netcdf, write_netcdf

__all__ = ["atomic_path", "read_json", "read_netcdf", "write_json", "write_netcdf"]
