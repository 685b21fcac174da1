"""Rewrites a resolved compose file (`docker-compose config` on stdin) to use host networking.

The CI machine has no bridge network, so ports cannot be published; every service instead
shares the host's network and listens on 127.0.0.1 at the given port. Nothing else changes.
Usage: docker-compose config | python3 compose-host-network.py PORT > compose.host.yml
"""
import sys

import yaml

port = sys.argv[1]
compose = yaml.safe_load(sys.stdin)
for service in compose["services"].values():
    service.pop("ports", None)
    service.pop("networks", None)
    service["network_mode"] = "host"
    service.setdefault("environment", {}).update({"HOST": "127.0.0.1", "PORT": port})
yaml.safe_dump(compose, sys.stdout, sort_keys=False)
