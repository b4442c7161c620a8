# The worker image. `make image` builds it from a context it stages in
# bin/image/worker: the static binary (CGO_ENABLED=0), the build machine's CA
# certificates, and a passwd/group naming the unprivileged user. Nothing is
# pulled: the base is scratch.
FROM scratch

ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=https://github.com/wabaworker/waba-worker

LABEL org.opencontainers.image.title="waba-worker" \
      org.opencontainers.image.description="Assigns a BSP's system user to shared WhatsApp Business Accounts, driven by NATS JetStream" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.url="${SOURCE}"

COPY passwd group /etc/
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY worker /usr/local/bin/worker

# 65532 is "waba" in the staged /etc/passwd; numeric so that Kubernetes'
# runAsNonRoot can verify it without reading the image's files.
USER 65532:65532
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# /healthz, /readyz, /metrics (HTTP_ADDR); the Graph emulator listens on 8090
# when the image runs `worker graph-emulator --addr :8090`.
EXPOSE 8080 8090
ENTRYPOINT ["/usr/local/bin/worker"]
CMD ["run"]
