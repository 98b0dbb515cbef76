"""Tests for lab-01 (math for ML)."""
