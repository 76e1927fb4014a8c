"""The eligibility engine: the agency catalogue, planning and decision (pure, no I/O).

Import from the submodules: :mod:`~gateway.engine.catalogue`, :mod:`~gateway.engine.planner`,
:mod:`~gateway.engine.evaluate`, :mod:`~gateway.engine.outcome`.
"""
