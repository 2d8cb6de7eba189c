"""Recipes: the demos, each a chain of library calls (data -> label -> train -> evaluate -> report).

A recipe owns only the order of the stages, its sizes (a config object) and where it writes
(its layout); anything another caller could use lives in the library and is imported from there.
The arrow points one way: recipes import the library, the library never imports a recipe
(``tests/test_layering.py``); only ``cli/`` (``stillhouse demo``) imports recipes.
"""
