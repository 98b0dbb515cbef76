"""Lab 03, classical ML rigor: splits, losses as likelihoods, priors, metrics, calibration, significance.

    make lab-03                                   # the service on 127.0.0.1:8003
    python -m labs.lab03_classical.exercises      # the chapter's six worked exercises
"""
