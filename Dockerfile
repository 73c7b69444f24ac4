# syntax=docker/dockerfile:1
# One image for the five services; docker-compose.yml picks the service with `command:`, e.g.
#   docker build -t event-platform . && docker run event-platform node services/feed/dist/server.js
# Two stages: `build` installs every dependency and compiles the TypeScript (tsc, `pnpm run build`); the final stage
# holds the compiled JavaScript and the production dependencies only (no tsx, vitest, testcontainers, ...).
# infra/scripts/test/dockerfile.int.test.ts replays the COPY and RUN steps of this file without a Docker engine.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS base
ENV PNPM_HOME=/pnpm \
    COREPACK_ENABLE_DOWNLOAD_PROMPT=0 \
    CI=true
ENV PATH=$PNPM_HOME:$PATH
WORKDIR /app
# pnpm: the version package.json's "packageManager" names, through corepack (npm when corepack cannot verify it)
COPY package.json ./
RUN corepack enable pnpm && corepack install \
    || { corepack disable pnpm && npm install -g --no-fund --no-audit "$(node -p 'require("./package.json").packageManager.split("+")[0]')"; }

FROM base AS build
# Dependencies: downloaded from the lockfile alone (this layer is rebuilt only when the lockfile or a patch changes),
# then linked from that store once the sources are in. pnpm-workspace.yaml's patchedDependencies name files in
# patches/, which `pnpm fetch` reads (without them: ERR_PNPM_PATCH_NOT_FOUND).
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
COPY patches ./patches
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store pnpm fetch --frozen-lockfile --store-dir /pnpm/store
COPY . .
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm install --frozen-lockfile --prefer-offline --store-dir /pnpm/store
# tsc per workspace package, into its dist/ (tsconfig.build.json); `pnpm run typecheck` is what checks the types.
RUN pnpm run build
# What the final stage takes: manifests, lockfile, patches, compiled JavaScript, SQL migrations and the default
# webhook sources and identity providers. No TypeScript, no tests; loadtest and packages/testing only as manifests (the lockfile names them).
RUN mkdir .image && tar -c --exclude=node_modules --exclude=test --exclude='*.ts' --exclude='*.mjs' \
      package.json pnpm-lock.yaml pnpm-workspace.yaml patches packages services loadtest/package.json \
      infra/webhook-sources.json infra/feed-auth-providers.json \
    | tar -x -C .image

FROM base AS runtime
COPY --from=build /app/.image/ ./
# Production dependencies of the services and of the packages they depend on (--filter-prod follows
# `dependencies` only, so packages/testing and loadtest are left out): https://pnpm.io/filtering
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm install --prod --frozen-lockfile --prefer-offline --store-dir /pnpm/store --filter-prod "@services/*..."

# One node process per container, so the SIGTERM of `docker stop` reaches the service itself (compose adds
# `init: true` for a PID 1 that reaps and forwards). --conditions=compiled: the workspace packages' "exports" lead
# to their dist/ (without it, to the TypeScript sources, which this image does not hold).
ENV NODE_ENV=production \
    NODE_OPTIONS=--conditions=compiled \
    HOST=0.0.0.0
USER node
# ingest by default, with its package.json Node flags (platform.nodeArgs); compose sets each service's command.
CMD ["node", "--max-semi-space-size=64", "services/ingest/dist/server.js"]
