# The lake of the Spark flow (k8s/spark/): one bucket of Parquet folders, one
# per table (s3://BUCKET/lake/TABLE), and the IAM role its readers and
# writers assume through IRSA: the churn-spark service account (every
# SparkApplication) and churn-spark-train (the train Job). Nothing else in
# the cluster can reach the bucket.

resource "aws_s3_bucket" "lake" {
  bucket = "${var.cluster_name}-lake-${data.aws_caller_identity.current.account_id}"
}

resource "aws_s3_bucket_ownership_controls" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "lake" {
  bucket                  = aws_s3_bucket.lake.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# An overwritten table keeps its previous version for 30 days: a stage that
# wrote bad data is undone by restoring the folder's previous versions.
resource "aws_s3_bucket_versioning" "lake" {
  bucket = aws_s3_bucket.lake.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.churn.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket     = aws_s3_bucket.lake.id
  depends_on = [aws_s3_bucket_versioning.lake]
  rule {
    id     = "previous-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
  }
}

# The lake's access log: who read and wrote which table.
resource "aws_s3_bucket" "lake_logs" {
  #checkov:skip=CKV_AWS_145:S3 delivers server access logs only to SSE-S3 buckets (AES256 below), never SSE-KMS
  bucket = "${var.cluster_name}-lake-logs-${data.aws_caller_identity.current.account_id}"
}

resource "aws_s3_bucket_ownership_controls" "lake_logs" {
  bucket = aws_s3_bucket.lake_logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "lake_logs" {
  bucket                  = aws_s3_bucket.lake_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "lake_logs" {
  bucket = aws_s3_bucket.lake_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

# S3 server access logs can be delivered only to a bucket encrypted with
# S3-managed keys (SSE-S3), not SSE-KMS.
resource "aws_s3_bucket_server_side_encryption_configuration" "lake_logs" {
  bucket = aws_s3_bucket.lake_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "lake_logs" {
  bucket     = aws_s3_bucket.lake_logs.id
  depends_on = [aws_s3_bucket_versioning.lake_logs]
  rule {
    id     = "expire-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = 365
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
  }
}

resource "aws_s3_bucket_logging" "lake" {
  bucket        = aws_s3_bucket.lake.id
  target_bucket = aws_s3_bucket.lake_logs.id
  target_prefix = "lake/"
}

# Only TLS requests reach either bucket; the log bucket takes the access
# logs of the lake bucket (the logging service, for this account only).
data "aws_iam_policy_document" "lake_tls_only" {
  for_each = {
    lake = aws_s3_bucket.lake.arn
    logs = aws_s3_bucket.lake_logs.arn
  }
  dynamic "statement" {
    for_each = each.key == "logs" ? [1] : []
    content {
      sid       = "S3ServerAccessLogs"
      actions   = ["s3:PutObject"]
      resources = ["${each.value}/lake/*"]
      principals {
        type        = "Service"
        identifiers = ["logging.s3.amazonaws.com"]
      }
      condition {
        test     = "ArnLike"
        variable = "aws:SourceArn"
        values   = [aws_s3_bucket.lake.arn]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [data.aws_caller_identity.current.account_id]
      }
    }
  }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value, "${each.value}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "lake" {
  bucket     = aws_s3_bucket.lake.id
  policy     = data.aws_iam_policy_document.lake_tls_only["lake"].json
  depends_on = [aws_s3_bucket_public_access_block.lake]
}

resource "aws_s3_bucket_policy" "lake_logs" {
  bucket     = aws_s3_bucket.lake_logs.id
  policy     = data.aws_iam_policy_document.lake_tls_only["logs"].json
  depends_on = [aws_s3_bucket_public_access_block.lake_logs]
}

# IRSA: the two service accounts of k8s/spark/rbac.yaml, and only them.
data "aws_iam_policy_document" "lake_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.cluster.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values = [
        "system:serviceaccount:churn:churn-spark",
        "system:serviceaccount:churn:churn-spark-train",
      ]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lake" {
  name               = "${var.cluster_name}-lake"
  assume_role_policy = data.aws_iam_policy_document.lake_assume.json
}

# Read and write the tables under lake/, with the key that encrypts them.
data "aws_iam_policy_document" "lake_access" {
  statement {
    sid       = "ListTheLake"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [aws_s3_bucket.lake.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["lake", "lake/*"]
    }
  }
  statement {
    sid = "ReadWriteTables"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${aws_s3_bucket.lake.arn}/lake/*"]
  }
  statement {
    sid       = "UseTheLakeKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.churn.arn]
  }
}

resource "aws_iam_role_policy" "lake" {
  name   = "lake-read-write"
  role   = aws_iam_role.lake.id
  policy = data.aws_iam_policy_document.lake_access.json
}
