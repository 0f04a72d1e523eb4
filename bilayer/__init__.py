"""The Fast Bi-layer avatar model (Zakharov et al., ECCV 2020). Depends on torch only; never imports ``bench``."""
