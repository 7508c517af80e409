"""``python -m nblib.tracking``: the tracking helper process (:func:`nblib.tracking.session.prestart`).

Importing the package registered every request it serves (``log``, ``finish``, ``champion_key``, ``open``).
"""

from nblib.tracking.session import _serve

if __name__ == "__main__":
    _serve()
