# carehub hub image: `carehub serve` (also used for `carehub db upgrade` and the simulators).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CAREHUB_DATA_DIR=/var/lib/carehub

# A fixed, unprivileged uid: the named volume for the data dir is created owned by it.
RUN groupadd --system --gid 10001 carehub \
    && useradd --system --uid 10001 --gid carehub --home-dir /var/lib/carehub \
       --no-create-home --shell /usr/sbin/nologin carehub \
    && mkdir -p /var/lib/carehub \
    && chown carehub:carehub /var/lib/carehub

WORKDIR /app
# Dependencies first (a layer that changes only with pyproject.toml)...
COPY pyproject.toml README.md ./
COPY devices/__init__.py devices/
COPY hub/__init__.py hub/
COPY etrs/__init__.py etrs/
COPY simulators/__init__.py simulators/
RUN pip install -e .
# ...then the code. The install is editable on purpose: the migrations (alembic/,
# alembic.ini) and the broker template (mosquitto/) are found relative to the source
# tree (hub/store/migrate.py, hub/broker/embedded.py), so the tree stays in /app.
COPY alembic.ini ./
COPY alembic ./alembic
COPY mosquitto ./mosquitto
COPY devices ./devices
COPY hub ./hub
COPY etrs ./etrs
COPY simulators ./simulators
RUN pip install --no-deps -e . \
    && python -c "import hub.cli, hub.store.migrate, simulators.cli"

# The code stays root-owned and read-only for the service user.
USER carehub
WORKDIR /var/lib/carehub
EXPOSE 8000
CMD ["carehub", "serve"]
