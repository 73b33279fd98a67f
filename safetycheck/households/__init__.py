"""Households: addresses and how they are matched, warning markers, and what a check-in hears of them."""
