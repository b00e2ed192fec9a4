"""Fuzz targets for every parser of outside bytes: hypothesis in make test, atheris in make fuzz."""
