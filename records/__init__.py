"""The pure domain of a stored record: what a record is, who may touch it, when it is late, how
long it is kept.

No Prefect, no Typer, no Rich: every function here takes plain values, settings and an
:class:`storage.ObjectStore`, so the flows, the command line and the tests call the same code.
"""
