"""The chest stage: depth frames in, chest displacement samples and the frame state out.

Block grid, motion, the chest region's search and tracking, and presence.
"""
