import os

SMOKE = bool(os.environ.get("LORENTZ_ASV_SMOKE"))  # tiny sizes, for the CI run
