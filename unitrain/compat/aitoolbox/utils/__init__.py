"""aitoolbox's ``aitoolbox.utils``: small helpers that user code imports (``util``,
``dict_util``, ``file_system``)."""
