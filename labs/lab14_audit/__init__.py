"""lab-14: future-proofing and audit: durability tiers, a dependency and deprecation audit, tripwires, ADRs.

    make lab-14        # serves on 127.0.0.1:8014; README.md has a curl example for every route
"""
