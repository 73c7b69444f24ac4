# syntax=docker/dockerfile:1
# One image for the five services; docker-compose.yml picks the service with `command:`, e.g.
#   docker build -t event-platform . && docker run event-platform node --import tsx services/feed/src/server.ts
FROM node:20-bookworm-slim

ENV PNPM_HOME=/pnpm \
    COREPACK_ENABLE_DOWNLOAD_PROMPT=0 \
    CI=true
ENV PATH=$PNPM_HOME:$PATH
WORKDIR /app

# pnpm: the version package.json's "packageManager" names, through corepack (npm when corepack cannot verify it)
COPY package.json ./
RUN corepack enable pnpm && corepack install \
    || { corepack disable pnpm && npm install -g --no-fund --no-audit "$(node -p 'require("./package.json").packageManager.split("+")[0]')"; }

# Dependencies: downloaded from the lockfile alone (this layer is rebuilt only when pnpm-lock.yaml changes),
# then linked from that store without the network once the sources are in.
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store pnpm fetch --frozen-lockfile --store-dir /pnpm/store
COPY . .
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm install --frozen-lockfile --offline --store-dir /pnpm/store

# Services run from their TypeScript sources with tsx's loader: one node process per container, so the SIGTERM of
# `docker stop` reaches the service itself (compose adds `init: true` for a PID 1 that reaps and forwards).
ENV NODE_ENV=production \
    HOST=0.0.0.0
USER node
# ingest by default, with its package.json Node flags (platform.nodeArgs); compose sets each service's command.
CMD ["node", "--max-semi-space-size=64", "--import", "tsx", "services/ingest/src/server.ts"]
