"""Eligibility programs: their model, the loader of program files and the in-file tests.

Import from the submodules: :mod:`~gateway.programs.model`, :mod:`~gateway.programs.loader`,
:mod:`~gateway.programs.file_model` (the file format), :mod:`~gateway.programs.errors`,
:mod:`~gateway.programs.testing`, :mod:`~gateway.programs.paths`.
"""
