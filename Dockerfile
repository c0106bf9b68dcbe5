# syntax=docker/dockerfile:1
# deepinfra-proxy image: build with tsc, run with production dependencies only, as `node`, under tini.
#
# Base image: node:22-bookworm-slim (Node 22 LTS). uWebSockets.js (@based/uws 6.0.1, uWS v20.51) ships prebuilt
# binaries for Node 20 and 22 (ABI 115, 127) that need glibc >= 2.27; bookworm has glibc 2.36. Its Node 24 binaries
# need glibc >= 2.38, so node:24-bookworm-* cannot load them (trixie has 2.41, but is untested here). Do NOT use
# node:*-alpine: musl cannot load any of them, and the service refuses to start (there is no JS fallback).

FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY workers ./workers
# Only the service is compiled here (tests and benchmarks are not copied, so tsc skips them).
RUN npx tsc -p tsconfig.json

FROM node:22-bookworm-slim AS runtime
# tini as PID 1: forwards SIGTERM to node and reaps zombies (or run the image with `docker run --init`).
# libjemalloc2: the entrypoint preloads it (MALLOC=glibc opts out): memory freed after a burst goes back to the system.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini libjemalloc2 \
    && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    PROFILE=basic \
    HOST=0.0.0.0 \
    PORT=8000
WORKDIR /app
COPY package.json package-lock.json ./
# uWebSockets.js ships 36 binaries (~180 MB); keep only the one this image's node loads (~7 MB), and fail the
# build if it is missing.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force \
    && node -e 'const fs = require("fs"), dir = "node_modules/uWebSockets.js/"; const keep = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`; if (!fs.existsSync(dir + keep)) throw new Error("uWebSockets.js has no " + keep); for (const f of fs.readdirSync(dir)) if (f.startsWith("uws_") && f.endsWith(".node") && f !== keep) fs.rmSync(dir + f);'
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/workers ./dist/workers
COPY profiles ./profiles
COPY --chmod=0755 deploy/entrypoint.sh ./deploy/entrypoint.sh
USER node
EXPOSE 8000
# SIGTERM: /ready turns 503, the listener closes, streams finish within SHUTDOWN_GRACE_MS (25 s), exit 0.
# Give the container more than that to stop (docker stop -t 30, compose stop_grace_period: 30s).
STOPSIGNAL SIGTERM
# No curl in slim images: node's fetch (HTTP/1.1, which uWebSockets.js requires) checks /health.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# entrypoint.sh adds --max-old-space-size (75 % of MEMORY_LIMIT_MB) and execs the command below.
ENTRYPOINT ["/usr/bin/tini", "--", "/app/deploy/entrypoint.sh"]
CMD ["node", "--expose-gc", "--max-semi-space-size=8", "dist/src/main.js"]
