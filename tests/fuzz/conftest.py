import tempfile
from pathlib import Path

from hypothesis.configuration import set_hypothesis_home_dir

# Hypothesis keeps caches (its Unicode tables) in ./.hypothesis by default; nothing of a test
# run may land in the repository. No example database is used (database=None throughout).
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "inlet-hypothesis")
