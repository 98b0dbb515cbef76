# One image for the whole monorepo; each compose service runs one command from it.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 DATA_DIR=/data
WORKDIR /app
# The CPU build of torch keeps the image small (see README, "torch on a laptop").
COPY pyproject.toml constraints.txt README.md ./
COPY shared ./shared
COPY labs ./labs
COPY fixtures ./fixtures
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu \
        -c constraints.txt . \
    && mkdir -p /data
EXPOSE 8000-8014
CMD ["python", "-m", "shared.mockllm", "--host", "0.0.0.0", "--port", "8000"]
