# dcfw's image: the static dcfw binary on an empty base. nftables is spoken
# over netlink, so no userspace tools (nft, iptables, a shell) are needed,
# and an attacker who got into this container would find nothing to use.
#
# The binary is built on the host first, so that building the image needs
# no registry (no golang base image to pull):
#
#     CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=$(git describe --tags --always --dirty --abbrev=12)" -o bin/dcfw .
#     docker build -t dcfw .
#
# (.dockerignore sends only bin/dcfw to the engine.) scripts/run.sh does
# both and starts deploy/docker-compose.yml. The version is stamped on the
# host, from git, where the checkout is: `dcfw --version` and dcfw's start
# line name the commit the image was built from.
FROM scratch
COPY bin/dcfw /dcfw
# dcfw runs as root (user 0): the Docker socket belongs to root, and Docker
# gives a non-root user no capabilities. What root may do in this container
# is limited by deploy/docker-compose.yml (cap_drop ALL, three cap_add).
ENTRYPOINT ["/dcfw"]
LABEL org.opencontainers.image.title="dcfw" \
      org.opencontainers.image.description="Per-container nftables firewall for Docker, configured by dcfw.* labels"
