"""What the tests leave behind in the engine: nothing.

Every container, network and image the tests create carries :data:`LABELS`,
whose value is this pytest run's own, so concurrent runs never see each
other's objects.  At the end of a run that used the engine, the root
conftest asks :func:`leftovers` and fails the run if anything remains.  A
crashed run is cleaned by hand with::

    docker rm -f $(docker ps -aq -f label=io.build-image.test)
    docker network prune -f --filter label=io.build-image.test
    docker image prune -af --filter label=io.build-image.test
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import docker

LABEL = "io.build-image.test"
RUN = uuid.uuid4().hex[:12]
LABELS = {LABEL: RUN}


def leftovers(client: docker.DockerClient) -> list[str]:
    """This run's containers, networks and images still in the engine, one line each."""
    mine: dict[str, str | list[str] | bool] = {"label": f"{LABEL}={RUN}"}
    found = [f"container {c.name} ({c.status})" for c in client.containers.list(all=True, filters=mine)]
    found += [f"network {n.name}" for n in client.networks.list(filters=mine)]
    found += [f"image {', '.join(i.tags) or i.id}" for i in client.images.list(filters=mine)]
    return found
