# The NATS image. `make nats-image` builds it from a context it stages in
# bin/image/nats: a static nats-server installed from the Go module proxy at
# the version go.mod pins (NATS_SERVER_VERSION), a passwd/group naming the
# unprivileged user, and an empty /data owned by it for the JetStream store.
# Nothing is pulled: the base is scratch.
FROM scratch

ARG VERSION=unknown
ARG CREATED=unknown
ARG SOURCE=https://github.com/nats-io/nats-server

LABEL org.opencontainers.image.title="nats-server" \
      org.opencontainers.image.description="NATS server with JetStream, built from source for waba-worker's tests and compose stack" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY passwd group /etc/
COPY nats-server /usr/local/bin/nats-server
COPY --chown=65532:65532 data /data

USER 65532:65532
# clients, cluster routes, monitoring (/healthz, /varz, /jsz)
EXPOSE 4222 6222 8222
ENTRYPOINT ["/usr/local/bin/nats-server"]
CMD ["--jetstream", "--store_dir", "/data", "--http_port", "8222"]
