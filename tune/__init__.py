"""Tuning a recipe's distributions towards a user's reference data (``gtforge tune``): builds candidate recipes
with the pipeline and scores them with ``compare``.
"""
