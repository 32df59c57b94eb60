"""This device: probes of /proc and /sys, SoC and core tables, thread defaults."""
