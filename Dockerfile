# Production image for web, worker and beat (docker-compose.yml). See docs/operations.md.

# --- Front-end assets: Node/npm exist only in this stage ---------------------------------
FROM node:20-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
# Chart.js lands in node_modules/chart.js/dist, which settings.STATICFILES_DIRS reads.
RUN npm ci --no-audit --no-fund

# --- Runtime ---------------------------------------------------------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /app

# Dependencies first so code changes reuse this layer. The runtime lock pins every
# package with hashes; psycopg's binary wheel brings its own libpq, so no apt packages.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

COPY . .
COPY --from=assets /src/node_modules/chart.js/dist ./node_modules/chart.js/dist

# Hashed, compressed static files for WhiteNoise, baked into the image. DEBUG off selects
# the manifest storage; the SECRET_KEY is a placeholder that only satisfies the settings
# check (it must not start with "django-insecure") and never reaches a running container.
RUN DEBUG=false SECRET_KEY=build-only-collectstatic python manage.py collectstatic --noinput

# Code stays root-owned and read-only to the app; only var/ (used when DATABASE_URL and
# REDIS_URL are unset, i.e. the embedded default) is writable.
# A home directory: gunicorn puts its control socket under ~/.gunicorn.
RUN useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin app \
    && mkdir -p var \
    && chown -R app:app var
USER app

EXPOSE 8000
# gunicorn's sync workers: WEB_CONCURRENCY of them. One per core of the host when
# PostgreSQL shares it (docs/performance.md: writes at 16 clients on 2 cores, p95 with 2
# workers 35-48 ms, with 3 workers 41-57 ms).
ENV WEB_CONCURRENCY=2
CMD ["gunicorn", "salesperf.wsgi:application", "--bind", "0.0.0.0:8000"]
