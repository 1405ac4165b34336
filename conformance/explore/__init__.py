"""The suite explores: random multi-device histories, concurrent pairs, checked against a model of the contract.

- model.py: the contract's second statement, an executable model (no I/O);
- history.py: steps as data, run against the server and checked after each;
- linearize.py: two requests at the same moment, explained by one order;
- machine.py: Hypothesis' stateful testing chooses and shrinks the histories;
- run.py: a run within a budget, replay before blame, the result;
- script.py: a failing history as a runnable shell script of curl commands;
- plugin.py: `--explore` in a run of the suite (the EXPLORE line).
"""
