"""The signal stage: chest displacement samples in, one typed analysis per second out.

Resampling to the fixed rate, breath detection, rate and quality, pauses, posture steps.
"""
