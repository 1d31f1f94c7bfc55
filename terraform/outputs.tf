output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = aws_eks_cluster.main.name
}

output "cluster_endpoint" {
  description = "Endpoint of the Kubernetes API (private unless endpoint_public_access_cidrs is set)."
  value       = aws_eks_cluster.main.endpoint
}

output "cluster_oidc_provider_arn" {
  description = "ARN of the cluster's OIDC provider, for further IRSA roles."
  value       = aws_iam_openid_connect_provider.cluster.arn
}

output "ebs_csi_role_arn" {
  description = "IAM role the EBS CSI driver assumes through IRSA."
  value       = aws_iam_role.ebs_csi.arn
}

output "vpc_id" {
  description = "ID of the cluster's VPC."
  value       = aws_vpc.main.id
}

output "kubeconfig_command" {
  description = "Writes a kubeconfig entry for the cluster."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${aws_eks_cluster.main.name}"
}

output "lake_bucket" {
  description = "The lake's bucket: the Spark flow reads and writes s3://BUCKET/lake/TABLE (k8s/spark/)."
  value       = aws_s3_bucket.lake.bucket
}

output "lake_role_arn" {
  description = "IAM role the churn-spark and churn-spark-train service accounts assume through IRSA (k8s/spark/rbac.yaml)."
  value       = aws_iam_role.lake.arn
}
