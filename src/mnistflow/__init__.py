"""mnistflow: the logic behind the DVC pipeline in this repository, one subpackage per step of the
data flow: fetch -> data -> training -> evaluation (and classical) -> serving, over a shared core.

Nothing runs on import. The stage scripts in `stages/` are thin wrappers: parse paths, load params,
call a function here, save. Areas import the core, not each other.
"""
