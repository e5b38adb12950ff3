"""Comparing pipelines on the same split and folds (``konstrukt compare``, ``konstrukt.compare``).

- :mod:`.entries`: which pipelines — the user's list parsed, checked and configured up front;
- :mod:`.contest`: the contest — groups sharing one prepared data set, rows, recommendation, verdict;
- :mod:`.leaderboard`: the leaderboard written down (terminal table, Markdown, picture).

Each pipeline is fitted by a pipeline runner (:mod:`konstrukt.execution.pipelines`).
"""
