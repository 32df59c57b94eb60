"""`blossom-edge release`: the publisher's whole matrix (models × quant types × tags) as Ray tasks.

plan.py decides what must be (re)made, tasks.py does each step, graph.py hands the steps to
Ray as tasks whose dependencies are object refs, and split.py, card.py, push.py, progress.py
do one job each. Ray is an optional extra and is imported only by graph.py.
"""
