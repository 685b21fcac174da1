# convpool container image. Builds with BuildKit (the default builder since Docker 23).
# Build:  docker build -t convpool .
# Run:    docker run -p 3000:3000 -v convpool-data:/data convpool

# Behind a TLS-intercepting proxy, pass its CA bundle as a build secret (never stored in a layer):
#   docker build --secret id=extra_ca_certs,src=/etc/ssl/certs/ca-certificates.crt -t convpool .

# Stage 1: install every dependency and compile TypeScript to dist/.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=extra_ca_certs \
    if [ -f /run/secrets/extra_ca_certs ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/extra_ca_certs; fi; \
    npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Stage 2: production dependencies only, installed apart so dev tools never reach the runtime.
FROM node:24-bookworm-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=extra_ca_certs \
    if [ -f /run/secrets/extra_ca_certs ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/extra_ca_certs; fi; \
    npm ci --omit=dev --no-audit --no-fund

# Stage 3: the runtime image.
FROM node:24-bookworm-slim
LABEL org.opencontainers.image.title="convpool" \
      org.opencontainers.image.description="PyTorch-exact pooling, CNN training and inference as an HTTP service" \
      org.opencontainers.image.licenses="MIT"

# All configuration comes from the environment; these are the defaults. The shutdown grace stays
# below docker stop's default 10 s so a drain finishes before SIGKILL. GLIBC_TUNABLES puts large
# tensors on transparent huge pages where the host allows them (see README, Performance).
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data \
    LOG_LEVEL=info \
    SHUTDOWN_GRACE_MS=8000 \
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1

WORKDIR /app
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist

# The image's unprivileged "node" user owns only the data directory; the code stays read-only.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node

EXPOSE 3000

# No curl in slim images: probe readiness with Node's own fetch. Three 10 s retries leave
# startup 30 s before the container counts as unhealthy.
HEALTHCHECK --interval=10s --timeout=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# The server drains in-flight requests and jobs on SIGTERM, then exits 0.
STOPSIGNAL SIGTERM
CMD ["node", "dist/server.js"]
