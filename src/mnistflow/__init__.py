"""mnistflow: the logic behind the DVC pipeline in this repository.

Each module owns one concern and runs nothing on import. The stage scripts in `stages/` are thin
wrappers: parse paths, load params, call a function here, save.
"""
