"""The op table. Each family module registers its rows on import; ``eagerjax._generate``
turns them into functions (``_generate.functional``), methods and operators."""
