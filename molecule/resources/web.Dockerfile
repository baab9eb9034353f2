# The smallest service of the contract (web.py) as a release image, built on a scenario's platform from the lab's
# offline Debian base.
ARG BASE_IMAGE=steady-lab/debian:bookworm
FROM ${BASE_IMAGE}
ARG APP_VERSION=0.0.0
ENV APP_VERSION=${APP_VERSION}
COPY web.py /srv/web.py
EXPOSE 8000
CMD ["python3", "/srv/web.py"]
